#ifndef X_pop3_parse
#define X_pop3_parse
#endif
