/**
 * How a run's process (and the agent that launched it) proves it acts for that run: the run token
 * it was given, sent in this header. Names shared by the server, the client and the agent.
 */
export const RUN_TOKEN_HEADER = 'x-rota-run-token'
/** The run process finds its token here (the agent sets it; the process removes it from its environment before the flow runs). */
export const RUN_TOKEN_ENV = 'ROTA_RUN_TOKEN'
