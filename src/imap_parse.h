#ifndef X_imap_parse
#define X_imap_parse
#endif
