/** GlobalPlatform Issuer Security Domain: key diversification, CPLC, SCP03 secure channel service, the ISD applet. */
export * from './diversify.ts';
export * from './cplc.ts';
export * from './secure-channel.ts';
export * from './isd.ts';
