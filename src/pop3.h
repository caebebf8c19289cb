/* pop3.h: the POP3 session (being written). */
#ifndef MAILFETCHD_POP3_H
#define MAILFETCHD_POP3_H
#endif
