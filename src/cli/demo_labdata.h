/*
 * demo_labdata.h — private to src/cli: the demo lab server's accounts, made by `polydaq demo
 * --lab-data DIR` (apart from cmd_demo.c because server.h and cert.h both name roles PD_ROLE_*).
 */
#ifndef PD_CLI_DEMO_LABDATA_H
#define PD_CLI_DEMO_LABDATA_H

#include "core/core.h"

#define DEMO_PASSWORD_FILE "demo-passwords.txt"

/* Makes the demo accounts in DIR/server.sqlite — the member company "Demo Polymers GmbH" and its
 * contact, a technician, a reviewer, an authorizer and an admin — with random passwords, written
 * to DIR/demo-passwords.txt (mode 0600) and printed. Accounts that exist already are kept (their
 * passwords are in that file from the first time). */
int demo_labdata_accounts(const char *dir, struct pd_err *err);

#endif
