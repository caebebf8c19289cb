/* control.h: being written. */
#ifndef MAILFETCHD_CONTROL_H
#define MAILFETCHD_CONTROL_H
#endif
