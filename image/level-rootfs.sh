#!/bin/sh
# Packs the root file system minus /usr (which each level passes down read-only) into a tar file
# that a level imports as the image of the level below it.
set -eu
out=$1
cd /
tar --numeric-owner --one-file-system \
    --exclude=./usr --exclude=./proc --exclude=./sys --exclude=./dev \
    --exclude=./var/lib/docker --exclude=./tmp/* --exclude=./run/* \
    --exclude=./var/log/* --exclude=./var/cache/* --exclude=./root/.cache \
    -cf "$out" .
ls -l "$out"
