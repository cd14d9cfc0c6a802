#!/bin/sh
# A stand-in for a compiler: turns the source into an artefact.
printf 'hello from strata (%s)\n' "$(cat version.txt)"
