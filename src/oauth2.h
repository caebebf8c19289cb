/* oauth2.h: being written. */
#ifndef MAILFETCHD_OAUTH2_H
#define MAILFETCHD_OAUTH2_H
#endif
