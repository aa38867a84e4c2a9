/* placeholder */
int pd_store_placeholder(void);
int pd_store_placeholder(void) { return 0; }
