#!/bin/sh
# timed_driver.sh COMMAND...: runs the automake test driver COMMAND (its
# own arguments included) and adds "SECONDS NAME" for the test to
# test-times in the current (build) directory, so that tests/run.sh can
# name the slowest tests: the test command's time is bound by them (make
# -j2 starts the tests in list order; the longest should come first, see
# SLOW_TESTS in Makefile.am).
name=?
prev=
for a in "$@"; do
	[ "$prev" = --test-name ] && name=$a
	prev=$a
done
start=$(date +%s)
"$@"
rc=$?
echo "$(($(date +%s) - start)) $name" >>test-times
exit $rc
