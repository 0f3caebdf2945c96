/** Helpers that turn contract schemas (src/core/contract.ts) into OpenAPI route responses. */
import type { z } from 'zod'
import { ErrorSchema } from '../../core/contract.ts'

export const json = <S extends z.ZodType>(schema: S, description: string) => ({ content: { 'application/json': { schema } }, description })
export const body = <S extends z.ZodType>(schema: S, required = true) => ({ required, content: { 'application/json': { schema } } })

export const errors = {
  400: json(ErrorSchema, 'Bad input'),
  404: json(ErrorSchema, 'Not found'),
}

