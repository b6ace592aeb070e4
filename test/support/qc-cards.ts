/**
 * QC tests: finished cards made on Kadi's virtual card, good and deliberately bad, and a software country PKI.
 *
 * `personaliseTestCard` does what an encoder does — SELECT the eID application, SCP03 with the card's
 * diversified keys, the Active Authentication key generated on the card (DG15), EF.SOD over the data groups,
 * CREATE FILE + UPDATE BINARY of every file, PUT DATA of the BAC secrets, LOCK — through the applets' reference
 * terminal (applets/testing), over any transmit function (the runtime in memory, or PC/SC). Each `faults` entry
 * makes one kind of bad card the QC must catch:
 *
 *   tamperDg N           DG N written with one byte changed after EF.SOD was signed (hash mismatch)
 *   corruptSodSignature  one byte of the SOD's signature value changed
 *   foreignAaKey         DG15 holds another key than the one the chip signs with (a cloned chip)
 *   skipLock             personalisation not closed (the eID application stays writable with SCP03)
 *   dg1                  DG1 replaced before signing (signed, consistent, but not the order's data)
 *
 * A SOD signed by a DS outside the CSCA comes from another `softwarePki` (its `signSod`).
 */
import { generateKeyPairSync } from 'node:crypto';
import { type BacSecrets, command } from '../../src/chip/index.ts';
import { computeDataGroupHashes, encodeDg15, encodeLdsSecurityObject } from '../../src/lds/index.ts';
import { SodBuilder, buildCrl, buildCscaCertificate, buildDsCertificate, parseCertificate, softwareSigner, type Signer } from '../../src/pki/index.ts';
import { EID_AID, diversifyKeySet } from '../../applets/index.ts';
import { type RawTransmit, Terminal, bacSecretsData } from '../../applets/testing/index.ts';
import { createHash } from 'node:crypto';

export interface SoftwarePki {
  cscaCertificate: Uint8Array;
  dsCertificate: Uint8Array;
  dsSerialHex: string;
  cscaSigner: Signer;
  signSod(dataGroups: ReadonlyMap<number, Uint8Array>): Promise<Uint8Array>;
  /** A CRL of the CSCA revoking `revoked` (DS serials, hex). */
  crl(revoked?: string[], opts?: { nextUpdate?: Date }): Promise<Uint8Array>;
}

function ecSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return softwareSigner(privateKey, 'ecdsa-p256', new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
}

/** A CSCA and a Document Signer in software (tests only: Kadi's own keys live in the HSM). */
export async function softwarePki(cn = 'Kadi Test CSCA', now = new Date()): Promise<SoftwarePki> {
  const day = 86_400_000;
  const cscaSigner = ecSigner();
  const dsSigner = ecSigner();
  const start = new Date(now.getTime() - day);
  const cscaCertificate = await buildCscaCertificate(
    {
      subject: { country: 'KE', organization: 'Kadi Test', commonName: cn },
      validity: { notBefore: start, notAfter: new Date(now.getTime() + 20 * 365 * day) },
      privateKeyUsagePeriod: { notBefore: start, notAfter: new Date(now.getTime() + 3 * 365 * day) },
    },
    cscaSigner,
  );
  const dsCertificate = await buildDsCertificate(
    {
      subject: { country: 'KE', organization: 'Kadi Test', commonName: `${cn} DS` },
      subjectPublicKeySpki: dsSigner.publicKeySpki,
      privateKeyUsagePeriod: { notBefore: start, notAfter: new Date(now.getTime() + 60 * day) },
      validity: { notBefore: start, notAfter: new Date(now.getTime() + 10 * 365 * day) },
      documentTypes: ['ID'],
    },
    cscaCertificate,
    cscaSigner,
  );
  const builder = new SodBuilder(dsCertificate, dsSigner);
  const digest = (alg: string, data: Uint8Array) => new Uint8Array(createHash(alg).update(data).digest());
  return {
    cscaCertificate,
    dsCertificate,
    dsSerialHex: parseCertificate(dsCertificate).serialHex,
    cscaSigner,
    async signSod(dataGroups) {
      const lds = encodeLdsSecurityObject({
        hashAlgorithm: builder.digest,
        dataGroupHashes: computeDataGroupHashes(dataGroups, builder.digest, digest),
        ldsVersionInfo: { ldsVersion: '0108', unicodeVersion: '040000' },
      });
      return builder.sign(lds, new Date());
    },
    async crl(revoked = [], opts = {}) {
      return buildCrl(
        {
          issuer: cscaCertificate,
          crlNumber: Date.now(),
          thisUpdate: new Date(now.getTime() - 60_000),
          nextUpdate: opts.nextUpdate ?? new Date(now.getTime() + 30 * day),
          revoked: revoked.map((serial) => ({ serial, revocationDate: new Date(now.getTime() - 1000) })),
        },
        cscaSigner,
      );
    },
  };
}

export interface CardFaults {
  tamperDg?: number;
  corruptSodSignature?: boolean;
  foreignAaKey?: boolean;
  skipLock?: boolean;
  dg1?: Uint8Array;
}

export interface TestPersonalisation {
  /** Card serial (12 hex digits) and the issuer master key its SCP03 keys are diversified from. */
  serial: string;
  masterKey: Uint8Array;
  com: Uint8Array;
  /** DG1, DG2, DG11-DG14 (DG15 comes from the card). */
  dataGroups: ReadonlyMap<number, Uint8Array>;
  bac: BacSecrets;
  signSod(dataGroups: ReadonlyMap<number, Uint8Array>): Promise<Uint8Array>;
  faults?: CardFaults;
}

const SFI = (fid: number): number => fid & 0x1f;

/** Personalises a blank (see the module comment). Returns what was written. */
export async function personaliseTestCard(transmit: RawTransmit, p: TestPersonalisation): Promise<{ sod: Uint8Array; dg15: Uint8Array; files: Map<number | 'COM' | 'SOD', Uint8Array> }> {
  const term = new Terminal(transmit);
  const sel = await term.selectAid(EID_AID);
  if (sel.sw !== 0x9000) throw new Error(`SELECT eID: ${sel.sw.toString(16)}`);
  await term.openScp03(diversifyKeySet(p.masterKey, p.serial), 0x33);
  const spki = await term.expect(command(0x00, 0x47, 0x00, 0x00, undefined, 256), 0x9000, 'GENERATE KEY PAIR');
  const dg15 = p.faults?.foreignAaKey
    ? encodeDg15(new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' })))
    : encodeDg15(spki);
  const dgs = new Map(p.dataGroups);
  if (p.faults?.dg1) dgs.set(1, p.faults.dg1);
  dgs.set(15, dg15);
  let sod = await p.signSod(dgs);
  if (p.faults?.corruptSodSignature) {
    sod = Uint8Array.from(sod);
    sod[sod.length - 3]! ^= 0x5a;
  }
  const written = new Map<number, Uint8Array>(dgs);
  if (p.faults?.tamperDg !== undefined) {
    const b = Uint8Array.from(written.get(p.faults.tamperDg)!);
    b[b.length - 1]! ^= 0x01;
    written.set(p.faults.tamperDg, b);
  }
  const files = new Map<number | 'COM' | 'SOD', Uint8Array>([['COM', p.com]]);
  await term.writeFile(0x011e, p.com, 0xdf, SFI(0x011e));
  for (const n of [...written.keys()].sort((a, b) => a - b)) {
    await term.writeFile(0x0100 + n, written.get(n)!, 0xdf, n);
    files.set(n, written.get(n)!);
  }
  await term.writeFile(0x011d, sod, 0xdf, SFI(0x011d));
  files.set('SOD', sod);
  await term.expect(command(0x00, 0xda, 0x00, 0xe1, bacSecretsData(p.bac)), 0x9000, 'PUT DATA');
  if (!p.faults?.skipLock) await term.expect(command(0x80, 0xf0, 0x40, 0x0f), 0x9000, 'LOCK');
  return { sod, dg15, files };
}
