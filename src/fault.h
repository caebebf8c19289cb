/* fault.h: named crash points for the fault-injection tests. With
 * MAILFETCHD_FAULT=NAME[:N] in the environment, the N-th (default first)
 * time the code passes point NAME the process kills itself with SIGKILL,
 * exactly as `kill -9` would at that instant. Without the variable a point
 * costs one comparison. */
#ifndef MAILFETCHD_FAULT_H
#define MAILFETCHD_FAULT_H

void	fault_point(const char *name);

#endif
