/** Memorable two-word run names, like "bright-kangaroo". */
import { adjectives, animals, uniqueNamesGenerator } from 'unique-names-generator'

export function runName(): string {
  return uniqueNamesGenerator({ dictionaries: [adjectives, animals], separator: '-', length: 2, style: 'lowerCase' })
}
