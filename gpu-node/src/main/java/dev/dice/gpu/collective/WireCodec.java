package dev.dice.gpu.collective;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.grpc.Detachable;
import io.grpc.Drainable;
import io.grpc.HasByteBuffer;
import io.grpc.KnownLength;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Protobuf framing for the collectives' bulk messages without protobuf's copies. The messages on the wire are
 * the ones in {@code collective.proto}, byte for byte; only the big {@code bytes} field is handled apart:
 * <ul>
 *   <li>sending, it is written straight from the caller's buffer into gRPC's transport buffers (protobuf would
 *       first build the whole message, then copy it out in 4 KiB steps);
 *   <li>receiving, it stays in the transport's own buffers (gRPC's {@link Detachable} streams) and is read
 *       from there once, into the reduction or the snapshot (protobuf would copy it twice and allocate a
 *       megabyte array per message, a "humongous" object for the garbage collector).
 * </ul>
 * A message here is a oneof wrapper (field {@code outer}) around the message that carries the payload.
 */
final class WireCodec {
    private WireCodec() {}

    /** One received wrapper: which oneof field it held, that message's other fields, and its payload (or null). */
    record Split(int field, byte[] rest, Payload payload) {}

    /**
     * Reads one wrapper message from a gRPC message stream. The field {@code payloadField} of the inner message
     * becomes a {@link Payload} (the caller must close it); every other field is kept as bytes for the
     * generated parser.
     */
    static Split split(InputStream stream, int payloadField) throws IOException {
        InputStream in = stream instanceof Detachable d ? d.detach() : stream;
        // Marked, gRPC's stream keeps the buffers it has read past instead of freeing them at once: the
        // payload's views stay valid until the stream is closed.
        in.mark(Integer.MAX_VALUE);
        Reader r = new Reader(in);
        Payload payload = null;
        boolean done = false;
        try {
            int tag = r.varint();
            if (WireFormat.getTagWireType(tag) != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                throw new IOException("expected a message field, got tag " + tag);
            }
            long end = r.varint() + r.consumed;
            ByteArrayOutputStream rest = new ByteArrayOutputStream(64);
            CodedOutputStream restOut = CodedOutputStream.newInstance(rest);
            while (r.consumed < end) {
                int fieldTag = r.varint();
                int type = WireFormat.getTagWireType(fieldTag);
                if (WireFormat.getTagFieldNumber(fieldTag) == payloadField
                        && type == WireFormat.WIRETYPE_LENGTH_DELIMITED && payload == null) {
                    // views only from a detached stream: gRPC frees a plain one's buffers when parsing returns
                    payload = r.payload(r.varint(), in, in != stream && in.markSupported());
                    continue;
                }
                restOut.writeUInt32NoTag(fieldTag);
                switch (type) {
                    case WireFormat.WIRETYPE_VARINT -> restOut.writeUInt64NoTag(r.varint64());
                    case WireFormat.WIRETYPE_FIXED32 -> restOut.writeRawBytes(r.bytes(4));
                    case WireFormat.WIRETYPE_FIXED64 -> restOut.writeRawBytes(r.bytes(8));
                    case WireFormat.WIRETYPE_LENGTH_DELIMITED -> {
                        int n = r.varint();
                        restOut.writeUInt32NoTag(n);
                        restOut.writeRawBytes(r.bytes(n));
                    }
                    default -> throw new IOException("unsupported wire type " + type);
                }
            }
            restOut.flush();
            done = true;
            return new Split(WireFormat.getTagFieldNumber(tag), rest.toByteArray(), payload);
        } finally {
            if (!done || !r.lent) { // unless a returned payload holds views of its buffers, the stream is done
                in.close();
            }
        }
    }

    /** Counts what it reads, so nested lengths can be followed on a plain stream. */
    private static final class Reader {
        private final InputStream in;
        private long consumed;
        private boolean lent; // the payload holds views of the stream's buffers: it owns the stream now

        Reader(InputStream in) {
            this.in = in;
        }

        private int next() throws IOException {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("message ended early");
            }
            consumed++;
            return b;
        }

        long varint64() throws IOException {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                int b = next();
                value |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    return value;
                }
            }
            throw new IOException("malformed varint");
        }

        int varint() throws IOException {
            return (int) varint64();
        }

        byte[] bytes(int n) throws IOException {
            byte[] out = in.readNBytes(n);
            if (out.length != n) {
                throw new EOFException("message ended early");
            }
            consumed += n;
            return out;
        }

        /** The next {@code n} bytes as views of the transport's buffers when it lends them, else as a copy. */
        Payload payload(int n, InputStream owner, boolean mayLend) throws IOException {
            if (n == 0) {
                return Payload.of(new byte[0]);
            }
            if (mayLend && in instanceof HasByteBuffer lender && lender.byteBufferSupported()) {
                List<ByteBuffer> pieces = new ArrayList<>();
                int left = n;
                while (left > 0) {
                    ByteBuffer view = lender.getByteBuffer();
                    if (view == null) {
                        break;
                    }
                    int take = Math.min(view.remaining(), left);
                    pieces.add(view.slice(view.position(), take));
                    long skipped = in.skip(take);
                    if (skipped != take) {
                        throw new IOException("could not skip " + take + " bytes");
                    }
                    left -= take;
                }
                if (left > 0) {
                    pieces.add(ByteBuffer.wrap(bytes(left)));
                }
                consumed += n - left;
                lent = true;
                return new Payload(pieces, owner);
            }
            return Payload.of(bytes(n));
        }
    }

    /**
     * A message to send: {@code prefix} (everything up to and including the payload field's tag and length)
     * then {@code payload}. gRPC drains it into its transport buffers in one pass.
     */
    static InputStream outgoing(byte[] prefix, ByteBuffer payload) {
        return new Outgoing(prefix, payload == null ? ByteBuffer.allocate(0) : payload.duplicate());
    }

    /**
     * The prefix of a wrapper whose oneof field {@code outer} holds a message of {@code header}'s fields plus the
     * payload field {@code payloadField} of {@code payloadBytes} bytes.
     */
    static byte[] prefix(int outer, byte[] header, int payloadField, int payloadBytes) throws IOException {
        int payloadTag = (payloadField << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED;
        int inner = header.length + CodedOutputStream.computeUInt32SizeNoTag(payloadTag)
                + CodedOutputStream.computeUInt32SizeNoTag(payloadBytes) + payloadBytes;
        ByteArrayOutputStream out = new ByteArrayOutputStream(header.length + 16);
        CodedOutputStream c = CodedOutputStream.newInstance(out);
        c.writeTag(outer, WireFormat.WIRETYPE_LENGTH_DELIMITED);
        c.writeUInt32NoTag(inner);
        c.writeRawBytes(header);
        c.writeUInt32NoTag(payloadTag);
        c.writeUInt32NoTag(payloadBytes);
        c.flush();
        return out.toByteArray();
    }

    private static final int STAGE_BYTES = 64 << 10;
    private static final ThreadLocal<byte[]> STAGE = ThreadLocal.withInitial(() -> new byte[STAGE_BYTES]);

    private static final class Outgoing extends InputStream implements Drainable, KnownLength {
        private final byte[] prefix;
        private final ByteBuffer payload;
        private int prefixAt;

        Outgoing(byte[] prefix, ByteBuffer payload) {
            this.prefix = prefix;
            this.payload = payload;
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int n = available();
            target.write(prefix, prefixAt, prefix.length - prefixAt);
            prefixAt = prefix.length;
            if (payload.hasArray()) {
                target.write(payload.array(), payload.arrayOffset() + payload.position(), payload.remaining());
                payload.position(payload.limit());
            } else {
                byte[] stage = STAGE.get(); // a direct buffer reaches an OutputStream only through an array
                while (payload.hasRemaining()) {
                    int take = Math.min(stage.length, payload.remaining());
                    payload.get(stage, 0, take);
                    target.write(stage, 0, take);
                }
            }
            return n;
        }

        @Override
        public int available() {
            return prefix.length - prefixAt + payload.remaining();
        }

        @Override
        public int read() {
            if (prefixAt < prefix.length) {
                return prefix[prefixAt++] & 0xff;
            }
            return payload.hasRemaining() ? payload.get() & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (available() == 0) {
                return len == 0 ? 0 : -1;
            }
            int n = 0;
            if (prefixAt < prefix.length) {
                n = Math.min(len, prefix.length - prefixAt);
                System.arraycopy(prefix, prefixAt, b, off, n);
                prefixAt += n;
            }
            int more = Math.min(len - n, payload.remaining());
            payload.get(b, off + n, more);
            return n + more;
        }
    }
}
