#!/usr/bin/env node
// Container health check (the Dockerfile's HEALTHCHECK and docker-compose.yml). Plain JavaScript, no
// tsx: it runs every few seconds and must start in milliseconds. Exits 0 when healthy.
//
//   node bin/healthcheck.js             the server in this container answers: http://127.0.0.1:$ROTA_PORT/api/health
//   node bin/healthcheck.js --agent     the server this agent reports to answers and accepts its key:
//                                       $ROTA_API_URL/api/agents (an agent cut off from it can't claim runs)
//   node bin/healthcheck.js --url=URL   URL answers 2xx (the BRT simulator)
// Arguments hold no spaces on purpose: podman 4 splits a health check's arguments on spaces.
/* global fetch, AbortSignal */
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const url = arg('url') ??
  (process.argv.includes('--agent')
    ? `${(process.env.ROTA_API_URL ?? 'http://127.0.0.1:4200').replace(/\/+$/, '')}/api/agents`
    : `http://127.0.0.1:${process.env.ROTA_PORT || '4200'}/api/health`)
const headers = process.env.ROTA_API_KEY ? { 'x-api-key': process.env.ROTA_API_KEY } : {}

try {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(4_000) })
  if (!response.ok) {
    console.error(`${url} answered ${response.status}`)
    process.exit(1)
  }
} catch (error) {
  console.error(`${url}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`)
  process.exit(1)
}
