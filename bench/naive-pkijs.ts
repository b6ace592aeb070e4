/**
 * The naive baseline: the same EF.SOD built with pkijs/asn1js object models (LDSSecurityObject, signed
 * attributes, SignedData, ContentInfo, 0x77 wrapper), signed by the same Signer (the same PKCS#11 key). Data
 * group hashes use node:crypto as in Kadi's path, so the difference is the DER encoding.
 */
import { hash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { Signer } from '../src/pki/index.ts';

const SHA256 = '2.16.840.1.101.3.4.2.1';
const LDS_SO = '2.23.136.1.1.1';
const ECDSA_SHA256 = '1.2.840.10045.4.3.2';

export class NaiveSodBuilder {
  private readonly cert: pkijs.Certificate;

  constructor(
    dsCertificate: Uint8Array,
    private readonly signer: Signer,
  ) {
    this.cert = pkijs.Certificate.fromBER(dsCertificate);
    if (signer.algorithm === 'rsa-pss-2048') throw new Error('the naive baseline is written for ECDSA only');
  }

  async sign(dataGroups: ReadonlyMap<number, Uint8Array>, signingTime: Date): Promise<Uint8Array> {
    const entries = [...dataGroups.entries()].sort((a, b) => a[0] - b[0]);
    const lds = new asn1js.Sequence({
      value: [
        new asn1js.Integer({ value: 1 }),
        new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: SHA256 })] }),
        new asn1js.Sequence({
          value: entries.map(
            ([n, bytes]) =>
              new asn1js.Sequence({ value: [new asn1js.Integer({ value: n }), new asn1js.OctetString({ valueHex: hash('sha256', bytes, 'buffer') })] }),
          ),
        }),
        new asn1js.Sequence({ value: [new asn1js.PrintableString({ value: '0108' }), new asn1js.PrintableString({ value: '040000' })] }),
      ],
    });
    const ldsDer = lds.toBER(false);
    const digest = hash('sha256', new Uint8Array(ldsDer), 'buffer');
    const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        // DER order (see src/pki/sod-build.ts): contentType, signingTime, messageDigest
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: LDS_SO })] }),
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.5', values: [new asn1js.UTCTime({ valueDate: signingTime })] }),
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: digest })] }),
      ],
    });
    const signerInfo = new pkijs.SignerInfo({
      version: 1,
      sid: new pkijs.IssuerAndSerialNumber({ issuer: this.cert.issuer, serialNumber: this.cert.serialNumber }),
      digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: SHA256 }),
      signedAttrs,
      signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: ECDSA_SHA256 }),
    });
    // Signature input: the signed attributes as SET OF (RFC 5652 §5.4).
    const toSign = new Uint8Array(signedAttrs.toSchema().toBER(false));
    toSign[0] = 0x31;
    const sig = await this.signer.sign(toSign);
    signerInfo.signature = new asn1js.OctetString({ valueHex: sig });
    const sd = new pkijs.SignedData({
      version: 3,
      digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: SHA256 })],
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: LDS_SO, eContent: new asn1js.OctetString({ valueHex: ldsDer }) }),
      certificates: [this.cert],
      signerInfos: [signerInfo],
    });
    const ci = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: sd.toSchema(true) });
    const wrapped = new asn1js.Constructed({ idBlock: { tagClass: 2, tagNumber: 23 }, value: [ci.toSchema()] });
    return new Uint8Array(wrapped.toBER(false));
  }
}
