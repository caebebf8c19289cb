/* daemon.h: being written. */
#ifndef MAILFETCHD_DAEMON_H
#define MAILFETCHD_DAEMON_H
#endif
