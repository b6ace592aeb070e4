/** The eID / eMRTD LDS1 application. */
export * from './eid.ts';
