/* diagnose.h: being written. */
#ifndef MAILFETCHD_DIAGNOSE_H
#define MAILFETCHD_DIAGNOSE_H
#endif
