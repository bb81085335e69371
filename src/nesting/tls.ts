import type * as X509 from '@peculiar/x509'
import {webcrypto} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import {StateFolderUnusable} from './errors.js'

/**
 * Mutual TLS for the levels' daemons: each nest gets its own certificate authority, one server
 * certificate that every level's dockerd presents, and one client certificate for the host. A
 * daemon accepts only clients whose certificate that CA signed (dockerd --tlsverify), so an
 * exposed level is not the open, root-equivalent TCP socket the classic recipe warned about.
 * ECDSA P-256: keys are made in milliseconds, and Go's TLS (dockerd) and Node's accept them.
 */
/**
 * The certificate library, loaded when certificates are made (`up --expose-daemons`) and not
 * before: with its polyfill it adds about 100 ms to the start of every command that imports this
 * file (exec, env, down...).
 */
async function loadX509(): Promise<typeof X509> {
  // @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs this polyfill loaded first.
  await import('reflect-metadata')
  const x509 = await import('@peculiar/x509')
  // Node's webcrypto is the standard Crypto; its type is the DOM's, which this build leaves out.
  x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>)
  return x509
}

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const ALGORITHM = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'} as const
const VALID_DAYS = 365

export interface NestCertificates {
  caCert: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
}

async function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
}

async function privateKeyPem(x509: typeof X509, key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1')
}

/** Makes the CA, the server certificate (valid for `addresses` and `dnsNames`) and the client certificate. */
export async function issueNestCertificates(nest: string, addresses: string[], dnsNames: string[] = ['localhost']): Promise<NestCertificates> {
  const x509 = await loadX509()
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(Date.now() + VALID_DAYS * 86_400_000)
  const caKeys = await keyPair()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=inception ${nest} CA`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  })
  const issue = async (commonName: string, usage: string, extra: X509.Extension[]) => {
    const keys = await keyPair()
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${commonName}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
        ...extra,
      ],
    })
    return {cert: cert.toString('pem'), key: await privateKeyPem(x509, keys.privateKey)}
  }
  const sans = [...addresses.map((value) => ({type: 'ip' as const, value})), ...dnsNames.map((value) => ({type: 'dns' as const, value}))]
  const server = await issue(`inception ${nest} daemons`, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(sans)])
  const client = await issue(`inception ${nest} client`, x509.ExtendedKeyUsage.clientAuth, [])
  return {caCert: ca.toString('pem'), serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key}
}

/**
 * Where a nest's client credentials live on this machine: one folder per engine and nest, 0700,
 * keys 0600, in the layout DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem).
 */
export function certificateFolder(engineId: string, nest: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(engineStateFolder(engineId, env), nest, 'tls')
}

/** What this machine keeps about one engine (its nests' certificates, its privilege decision). */
export function engineStateFolder(engineId: string, env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME && env.XDG_STATE_HOME.length > 0 ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state')
  const engineKey = engineId.replace(/[^A-Za-z0-9]/g, '').slice(0, 16) || 'engine'
  return join(stateHome, 'inception', engineKey)
}

/**
 * Makes FOLDER and its missing parents (0700), one at a time. Not `mkdir -p` as Node has it: where
 * the file system answers ENOENT for a folder whose parent exists (/proc does), Node's recursive
 * mkdir makes the parent again and retries forever, and `up` spun, deaf to signals. Throws
 * StateFolderUnusable, naming the folder and the reason.
 */
export function makePrivateFolder(folder: string): void {
  const missing: string[] = []
  for (let path = resolve(folder); !isDirectory(path); path = dirname(path)) {
    missing.unshift(path)
    if (dirname(path) === path) break
  }
  for (const path of missing) {
    try {
      mkdirSync(path, {mode: 0o700})
    } catch (error) {
      const {code, message} = error as NodeJS.ErrnoException
      if (code === 'EEXIST' && isDirectory(path)) continue
      throw new StateFolderUnusable(folder, code ?? message)
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

export function writeClientFolder(folder: string, certs: NestCertificates): void {
  makePrivateFolder(folder)
  chmodSync(folder, 0o700)
  writeFileSync(join(folder, 'ca.pem'), certs.caCert, {mode: 0o644})
  writeFileSync(join(folder, 'cert.pem'), certs.clientCert, {mode: 0o644})
  writeFileSync(join(folder, 'key.pem'), certs.clientKey, {mode: 0o600})
}

export function removeClientFolder(folder: string): void {
  // The folder is .../<nest>/tls: remove the nest's folder with it.
  rmSync(join(folder, '..'), {recursive: true, force: true})
}

export function clientFolderExists(folder: string): boolean {
  return existsSync(join(folder, 'key.pem'))
}

export function readClientMaterial(folder: string): {ca: string; cert: string; key: string} {
  return {
    ca: readFileSync(join(folder, 'ca.pem'), 'utf8'),
    cert: readFileSync(join(folder, 'cert.pem'), 'utf8'),
    key: readFileSync(join(folder, 'key.pem'), 'utf8'),
  }
}

/** What goes into level 1 (and is passed down read-only): the server side, never the CA's key. */
/** The files of a level's TLS listener in TLS_DIR (the init never names them: render.ts gives them to dockerd). */
export const SERVER_FILE = {ca: 'ca.pem', cert: 'server-cert.pem', key: 'server-key.pem'} as const

export function serverFiles(certs: NestCertificates): Record<string, string> {
  return {[SERVER_FILE.ca]: certs.caCert, [SERVER_FILE.cert]: certs.serverCert, [SERVER_FILE.key]: certs.serverKey}
}
