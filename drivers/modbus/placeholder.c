/* placeholder */
int pd_modbus_placeholder(void);
int pd_modbus_placeholder(void) { return 0; }
