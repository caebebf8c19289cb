/* fault.h: test hooks, each enabled by an environment variable that only
 * the tests set; without it a hook costs one comparison.
 *
 * Crash points: with MAILFETCHD_FAULT=NAME[:N], the N-th (default first)
 * time the code passes point NAME the process kills itself with SIGKILL,
 * exactly as `kill -9` would at that instant.
 *
 * A simulated suspend: with MAILFETCHD_SUSPEND=FILE[:SECONDS], FILE holds
 * a number of milliseconds that is added to every CLOCK_BOOTTIME reading
 * of the daemon, as if the machine had been suspended that long (writing
 * a larger number is a suspend that ends at once; a missing file is 0,
 * and the number never goes down); SECONDS replaces the 15 seconds
 * between the daemon's clock checks. */
#ifndef MAILFETCHD_FAULT_H
#define MAILFETCHD_FAULT_H

#include <stdint.h>

void		fault_point(const char *name);
/* Milliseconds to add to CLOCK_BOOTTIME; 0 without MAILFETCHD_SUSPEND. */
uint64_t	fault_suspend_ms(void);
/* The seconds between clock checks: def without MAILFETCHD_SUSPEND. */
unsigned int	fault_clock_check(unsigned int def);

#endif
