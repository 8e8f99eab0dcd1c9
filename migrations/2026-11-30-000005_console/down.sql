DROP INDEX rejects_account;
DROP INDEX dead_letters_account;
DROP INDEX audit_log_target;
DROP TABLE console_sessions;
