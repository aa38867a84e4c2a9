/* placeholder */
int pd_cert_placeholder(void);
int pd_cert_placeholder(void) { return 0; }
