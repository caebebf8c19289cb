/* compat.h: compiler attributes used across mailfetchd. */
#ifndef MAILFETCHD_COMPAT_H
#define MAILFETCHD_COMPAT_H

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define printflike(a, b) __attribute__((__format__(__printf__, a, b)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#endif
