/* placeholder */
int loadframe_placeholder(void);
int loadframe_placeholder(void) { return 0; }
