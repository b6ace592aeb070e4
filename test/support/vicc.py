#!/usr/bin/python3
"""
Runs Debian's `vicc` (vsmartcard-vpicc 0.8, package python3-virtualsmartcard 3.3) with the Python 3 bugs that
kill it patched at start, then hands over to vicc's own main (`/usr/bin/vicc`, same arguments):

    /usr/bin/python3 test/support/vicc.py -t iso7816 -H 127.0.0.1 -P <vpcd port>

vicc is the independent card of Kadi's interoperability test (DESIGN.md §4, §7): nothing of Kadi runs in it.
What is patched, and why (each one crashes the process or breaks a plain ISO 7816-4 file exchange):

1. Import path: Debian installs the package as /usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard,
   a directory that is on no sys.path of Debian's python3 -> ModuleNotFoundError at start.
2. CryptoUtils falls back to `import sha` (a Python 2 module) when PyCrypto is absent -> ImportError at start.
   An `sha` module backed by hashlib stands in (the iso7816 card type does no cryptography for file commands).
3. Iso7816OS.formatResult compares Le with the data length for "seekable" instructions (UPDATE BINARY, ...);
   a command without Le (UPDATE BINARY is case 3) has Le None -> TypeError, the process dies mid-exchange.
   Le None is treated as 0 there (no response data), which is what ISO 7816-4 says for case 1/3 commands.
4. A transparent EF created without tag 80 (or created empty) gets `data=""` (str) and later bytes operations on
   it raise TypeError; the default becomes b"".
5. Any other exception inside Iso7816OS.execute kills the process (e.g. an IndexError on a malformed TLV);
   it is answered with SW 6F00 ("no precise diagnosis") instead, as a card would.
6. TLVutils.pack ends with `b"".join(result)` on a bytes object (a Python 2 leftover): every BER-TLV it builds
   fails with TypeError, so SELECT with P2 '00' (FCI) or '04' (FCP) cannot answer. It returns the bytes.
"""
import glob
import hashlib
import os
import runpy
import sys
import types


def _add_package_path():
    for base in glob.glob('/usr/lib/python3/*-packages/virtualsmartcard') + glob.glob('/usr/lib/python3*/*-packages/virtualsmartcard'):
        if os.path.isdir(os.path.join(base, 'virtualsmartcard')) and base not in sys.path:
            sys.path.insert(0, base)


def _stub_sha():
    if 'sha' in sys.modules:
        return
    sha = types.ModuleType('sha')
    sha.new = hashlib.sha1
    sha.digest_size = 20
    sys.modules['sha'] = sha


def _patch():
    from virtualsmartcard import VirtualSmartcard as VS
    from virtualsmartcard import SmartcardFilesystem as FS

    original_format = VS.Iso7816OS.formatResult

    def format_result(self, seekable, le, data, sw, sm):
        if le is None and seekable:
            le = 0
        return original_format(self, seekable, le, data, sw, sm)

    VS.Iso7816OS.formatResult = format_result

    original_execute = VS.Iso7816OS.execute

    def execute(self, msg):
        try:
            return original_execute(self, msg)
        except Exception as e:  # noqa: BLE001 - a card answers, it does not die
            import logging
            logging.error('vicc wrapper: %s: %s -> 6F00', type(e).__name__, e)
            return b'\x6f\x00'

    VS.Iso7816OS.execute = execute

    original_init = FS.TransparentStructureEF.__init__

    def ef_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if isinstance(self.data, str):
            self.data = self.data.encode('latin-1')

    FS.TransparentStructureEF.__init__ = ef_init

    from virtualsmartcard import TLVutils as TLV
    from virtualsmartcard.utils import inttostring

    def pack(tlv_data, recalculate_length=False):
        result = b''
        for item in tlv_data:
            tag, length, value = item[:3]
            if tag in (0xff, 0x00):
                result += inttostring(tag)
                continue
            if not isinstance(value, bytes):
                value = pack(value, recalculate_length)
            if recalculate_length:
                length = len(value)
            t = b''
            while tag > 0:
                t = inttostring(tag & 0xff) + t
                tag >>= 8
            if length < 0x80:
                ln = inttostring(length)
            else:
                ln = b''
                while length > 0:
                    ln = inttostring(length & 0xff) + ln
                    length >>= 8
                ln = inttostring(0x80 | len(ln)) + ln
            result += t + ln + value
        return result

    TLV.pack = pack


def main():
    _add_package_path()
    _stub_sha()
    _patch()
    sys.argv = ['vicc'] + sys.argv[1:]
    runpy.run_path('/usr/bin/vicc', run_name='__main__')


if __name__ == '__main__':
    main()
