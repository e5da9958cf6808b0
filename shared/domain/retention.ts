/** How long the change log keeps entries: the longest message TTL a connected registry may have. */
export const MAX_MESSAGE_TTL_DAYS = 90;
export const CHANGE_RETENTION_SECONDS = MAX_MESSAGE_TTL_DAYS * 24 * 3600;
