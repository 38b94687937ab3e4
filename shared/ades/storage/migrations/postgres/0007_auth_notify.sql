-- Services keep the accounts behind the API tokens they have seen in memory (a token lookup
-- is the most frequent query of all). Any change that can refuse or narrow a token -- a
-- revocation, a scope, role or disabled change, a deletion -- tells every listening process
-- on channel `ades_auth`, and they forget what they kept; `last_used_at` and login
-- bookkeeping do not notify.
-- (The migration runner ends statements at a ';' that ends a line, hence the one-line body.)
CREATE FUNCTION ades_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('ades_auth', TG_TABLE_NAME); RETURN NULL; END
$$;

CREATE TRIGGER api_tokens_auth_changed
    AFTER UPDATE OF revoked_at, scope, user_id, token_hash OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION ades_auth_changed();

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF role, disabled, username OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION ades_auth_changed();
