/* placeholder */
int pd_config_placeholder(void);
int pd_config_placeholder(void) { return 0; }
