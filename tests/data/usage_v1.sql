-- A usage database as written by the first release (schema version 1: `git show
-- 2b3ad47:gateway/db.py`), dumped with sqlite3's iterdump. tests/test_migrations.py loads it
-- into a file and starts the current gateway on it. Never regenerate it from the current code.
PRAGMA user_version=1;
BEGIN TRANSACTION;
CREATE TABLE usage (
    id                 INTEGER PRIMARY KEY,
    ts                 TEXT    NOT NULL,   -- request start, ISO 8601 UTC with ms: 2026-11-27T09:00:00.123Z
    request_id         TEXT    NOT NULL UNIQUE,
    client_format      TEXT    NOT NULL,   -- 'openai' | 'anthropic'
    provider           TEXT,               -- who served it (last one tried, on failure)
    model              TEXT,               -- model name the client sent
    provider_model     TEXT,               -- model id sent upstream
    stream             INTEGER NOT NULL DEFAULT 0,
    status             INTEGER NOT NULL,   -- HTTP status returned to the client
    input_tokens       INTEGER NOT NULL DEFAULT 0,  -- uncached prompt tokens
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,  -- reasoning included
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL,               -- NULL when no price is known
    latency_ms         REAL,
    ttft_ms            REAL,
    error              TEXT,               -- NULL on success
    -- ekai's additions
    cost_pico_usd      INTEGER,            -- the exact cost in 1e-12 USD; cost_usd is this / 1e12
    cost_source        TEXT,               -- 'price_table' | 'provider' (OpenRouter's usage.cost) | NULL
    price_version      TEXT,               -- digest of the price entry that priced the row
    attempts           TEXT,               -- providers tried before this one: 'xai:429,openai:timeout'
    api_key_name       TEXT,               -- name (never the value) of the gateway key used
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0  -- the 1-hour part of cache_write_tokens
) STRICT;
INSERT INTO "usage" VALUES(1,'2026-11-20T09:00:00.123Z','req_v1_0001','anthropic','anthropic','claude-sonnet-4-6','claude-sonnet-4-6',1,200,12,40000,1200,350,0,0.0222,2100.5,640.25,NULL,22200000000,'price_table','a1b2c3',NULL,'laptop',0);
INSERT INTO "usage" VALUES(2,'2026-11-20T09:00:05.000Z','req_v1_0002','openai','openai','gpt-5','gpt-5',0,200,300,1000,0,100,40,0.0015,900.0,900.0,NULL,1500000000,'price_table','d4e5f6','xai:429','ci',0);
INSERT INTO "usage" VALUES(3,'2026-11-20T10:15:00.000Z','req_v1_0003','openai','xai','grok-4','grok-4',1,502,0,0,0,0,0,NULL,20.0,20.0,'upstream connection error',NULL,NULL,NULL,NULL,NULL,0);
INSERT INTO "usage" VALUES(4,'2026-11-21T00:00:00.000Z','req_v1_0004','anthropic','openrouter','sonnet','anthropic/claude-sonnet-4.6',0,200,10,1000,500,20,0,0.000123456789,4000.0,400.0,NULL,123456789,'provider',NULL,NULL,'laptop',200);
INSERT INTO "usage" VALUES(5,'2026-11-21T08:30:00.000Z','req_v1_0005','openai','openrouter','meta-llama/llama-4-maverick','meta-llama/llama-4-maverick',0,200,5,100,0,5,0,NULL,5000.0,500.0,NULL,NULL,NULL,NULL,NULL,NULL,0);
CREATE INDEX usage_ts ON usage (ts);
COMMIT;
