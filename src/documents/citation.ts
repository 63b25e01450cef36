import { type TextChunk } from '../chunks/chunking/chunker';

/** "Refund Policy §2 Returns window", or just the title for text before the first heading. */
export function documentCitation(
  title: string,
  chunk: Pick<TextChunk, 'headingPath' | 'sectionNumber'>,
): string {
  const heading = chunk.headingPath[chunk.headingPath.length - 1];
  if (chunk.sectionNumber === null || heading === undefined) return title;
  return `${title} §${chunk.sectionNumber} ${heading}`;
}

export const ticketCitation = (ticketId: string): string => `Ticket ${ticketId}`;
