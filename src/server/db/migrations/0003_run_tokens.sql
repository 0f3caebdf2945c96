-- A run's token (src/server/run-access.ts): issued each time a claimed run is handed to its agent,
-- given to the run's process (ROTA_RUN_TOKEN), and required where the run's parameters and secrets
-- are handed out and where its reports are taken. Only its SHA-256 is kept; a run going back to the
-- queue loses it.
alter table rota_flow_runs add column token_hash text;
