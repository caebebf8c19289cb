/* privsep.h: being written. */
#ifndef MAILFETCHD_PRIVSEP_H
#define MAILFETCHD_PRIVSEP_H
#endif
