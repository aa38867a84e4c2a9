/* placeholder */
int pd_acq_placeholder(void);
int pd_acq_placeholder(void) { return 0; }
