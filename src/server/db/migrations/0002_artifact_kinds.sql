-- Artifacts carry their kind (src/core/artifacts.ts), so the dashboard renders each by its kind,
-- and an optional description. Artifacts kept before this migration were plain JSON.
alter table rota_artifacts add column kind text not null default 'json' check (kind in ('link', 'table', 'files', 'markdown', 'json'));
alter table rota_artifacts add column description text;
