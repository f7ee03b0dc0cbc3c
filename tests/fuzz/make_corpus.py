#!/usr/bin/env python3
"""Write the seed corpora under tests/fuzz/corpus/: a few small valid
inputs per target, in the formats the targets read (see each fuzz_*.c).
Run again after a format change; found crashes are added by hand."""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def resp():
    # Two leading bytes: limits selector, chunking seed.
    seeds = {
        'get': b'*2\r\n$3\r\nGET\r\n$1\r\nk\r\n',
        'set_pipeline': b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n'
                        b'*1\r\n$4\r\nPING\r\n',
        'inline': b'SET k "a\\x41\\n" \'it\\\'s\'\r\nPING\n',
        'empty': b'*0\r\n*-1\r\n\r\n\n*1\r\n$0\r\n\r\n',
        'binary': b'*2\r\n$4\r\nECHO\r\n$3\r\n\x00\r\n\r\n',
    }
    for i, (name, data) in enumerate(seeds.items()):
        write('resp', name, bytes([0x03 | (i << 5 & 0x20), i]) + data)
    write('resp', 'small_limits', b'\x10\x07' + b'*4\r\n$9\r\nlongvalue\r\n')


def codec_entry(typ, time_ms, args):
    out = struct.pack('<BBHIq', 1, typ, 0, len(args), time_ms)
    for a in args:
        out += struct.pack('<I', len(a)) + a
    return out + b'\0' * (-len(out) % 8)


def codec():
    write('codec', 'set', codec_entry(1, 1700000000000, [b'SET', b'k', b'v']))
    write('codec', 'expire', codec_entry(2, 5, [b'a', b'b/c']))
    write('codec', 'member_set', codec_entry(
        3, 1, [b'raft1', b'2', b'127.0.0.1:7001', b'127.0.0.1:6380',
               b'voter']))
    write('codec', 'member_del', codec_entry(4, -1, [b'raft1']))
    write('codec', 'noargs', codec_entry(1, 0, []))


def lstr(b):
    return struct.pack('<I', len(b)) + b


def snapshot_blob(rev, members, entries):
    out = b'CASHESNP' + struct.pack('<IIQ', 1, 0, rev)
    out += struct.pack('<I', len(members))
    for name, mid, raft, client, role in members:
        out += lstr(name) + struct.pack('<Q', mid) + lstr(raft) + \
            lstr(client) + struct.pack('<I', role)
    out += struct.pack('<Q', len(entries))
    for key, val, exp, mtime, crev, mrev, ver in entries:
        out += lstr(key) + lstr(val) + \
            struct.pack('<qqQQQ', exp, mtime, crev, mrev, ver)
    return out + struct.pack('<I', zlib.crc32(out))


def snapshot():
    m = [(b'raft0', 1, b'127.0.0.1:7000', b'127.0.0.1:6379', 0),
         (b'raft1', 2, b'127.0.0.1:7001', b'127.0.0.1:6380', 1)]
    e = [(b'a', b'1', 0, 10, 1, 1, 1),
         (b'b/c', b'\x00\xff', 2000000000000, 11, 2, 5, 3)]
    write('snapshot', 'empty', snapshot_blob(0, [], []))
    write('snapshot', 'members', snapshot_blob(3, m, []))
    write('snapshot', 'entries', snapshot_blob(7, [], e))
    write('snapshot', 'both', snapshot_blob(9, m, e))


def names():
    write('names', 'simple', b'a/b/c')
    write('names', 'escapes', b'/%2Fx/100%/%2E/%25')
    write('names', 'own', b'/dir/%')
    write('names', 'binary_key', b'a\x00b//c/')
    write('names', 'long_key', b'd/' + b'x' * 300 + b'%' * 4)


if __name__ == '__main__':
    resp()
    codec()
    snapshot()
    names()
