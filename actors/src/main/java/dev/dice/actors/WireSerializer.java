package dev.dice.actors;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.dice.proto.wire.WireRecord;
import java.io.NotSerializableException;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Writes every {@link Wire} message — a record — as a protobuf {@link WireRecord} (see {@link WireRecords}); the
 * manifest names the record's class, and only records that implement {@link Wire} are read back.
 */
public final class WireSerializer extends SerializerWithStringManifest {
    private final WireRecords records;

    public WireSerializer(ExtendedActorSystem system) {
        this.records = new WireRecords(ActorRefResolver.get(Adapter.toTyped(system)));
    }

    @Override
    public int identifier() {
        return 0x44494345; // "DICE"
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getName();
    }

    @Override
    public byte[] toBinary(Object o) {
        if (!(o instanceof Wire) || !(o instanceof Record record)) {
            throw new IllegalArgumentException("no wire format for " + o.getClass().getName()
                    + ": a message that crosses nodes is a record implementing Wire");
        }
        return records.write(record).toByteArray();
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        Class<?> type;
        try {
            type = Class.forName(manifest, false, WireSerializer.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new NotSerializableException("unknown wire manifest '" + manifest + "'");
        }
        if (!Wire.class.isAssignableFrom(type) || !type.isRecord()) {
            throw new NotSerializableException("'" + manifest + "' is no Wire record");
        }
        try {
            return records.read(WireRecord.parseFrom(bytes), type.asSubclass(Record.class));
        } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
            throw new NotSerializableException(manifest + ": " + e.getMessage());
        }
    }
}
