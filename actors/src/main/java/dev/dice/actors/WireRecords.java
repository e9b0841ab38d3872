package dev.dice.actors;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.dice.proto.wire.WireList;
import dev.dice.proto.wire.WireRecord;
import dev.dice.proto.wire.WireValue;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;

/**
 * Records as {@link WireRecord}s: each component in declaration order, its value encoded by its declared type, so a
 * record that implements {@link Wire} needs no other definition to cross nodes. The types a component may have:
 * String, int, long, double, boolean (boxed: null too), enums, Path, Duration, ActorRef (its path), protobuf messages,
 * records of these, and Lists of any of them.
 */
final class WireRecords {
    private static final Map<Class<?>, Constructor<?>> CONSTRUCTORS = new ConcurrentHashMap<>();

    private final ActorRefResolver refs;

    WireRecords(ActorRefResolver refs) {
        this.refs = refs;
    }

    WireRecord write(Record record) {
        WireRecord.Builder out = WireRecord.newBuilder();
        for (RecordComponent c : record.getClass().getRecordComponents()) {
            try {
                out.addComponents(value(c.getAccessor().invoke(record), c.getGenericType()));
            } catch (ReflectiveOperationException | RuntimeException e) {
                throw new IllegalArgumentException("cannot write " + record.getClass().getName() + "." + c.getName()
                        + ": " + e.getMessage(), e);
            }
        }
        return out.build();
    }

    <T extends Record> T read(WireRecord wire, Class<T> type) {
        RecordComponent[] components = type.getRecordComponents();
        if (wire.getComponentsCount() != components.length) {
            throw new IllegalArgumentException(type.getName() + ": " + wire.getComponentsCount() + " components on the"
                    + " wire, the record has " + components.length);
        }
        Object[] values = new Object[components.length];
        for (int i = 0; i < components.length; i++) {
            values[i] = value(wire.getComponents(i), components[i].getGenericType(), type.getName() + "."
                    + components[i].getName());
        }
        try {
            return type.cast(constructor(type).newInstance(values));
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException(type.getName() + ": " + e.getCause().getMessage(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(type.getName() + ": " + e.getMessage(), e);
        }
    }

    private WireValue value(Object v, Type type) {
        WireValue.Builder out = WireValue.newBuilder();
        if (v == null) {
            return out.build();
        }
        Class<?> raw = raw(type);
        if (v instanceof String s) {
            out.setText(s);
        } else if (v instanceof Integer || v instanceof Long) {
            out.setInteger(((Number) v).longValue());
        } else if (v instanceof Double d) {
            out.setReal(d);
        } else if (v instanceof Boolean b) {
            out.setFlag(b);
        } else if (v instanceof Enum<?> e) {
            out.setText(e.name());
        } else if (v instanceof Path p) {
            out.setText(p.toString());
        } else if (v instanceof Duration d) {
            out.setText(d.toString());
        } else if (v instanceof ActorRef<?> ref) {
            out.setText(refs.toSerializationFormat(ref));
        } else if (v instanceof Message m) {
            out.setMessage(m.toByteString());
        } else if (v instanceof Record r) {
            out.setRecord(write(r));
        } else if (v instanceof List<?> list && raw == List.class) {
            Type element = ((ParameterizedType) type).getActualTypeArguments()[0];
            WireList.Builder items = WireList.newBuilder();
            list.forEach(item -> items.addItems(value(item, element)));
            out.setList(items);
        } else {
            throw new IllegalArgumentException("no wire form for " + type.getTypeName());
        }
        return out.build();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Object value(WireValue v, Type type, String where) {
        Class<?> raw = raw(type);
        if (v.getValueCase() == WireValue.ValueCase.VALUE_NOT_SET) {
            if (raw.isPrimitive()) {
                throw new IllegalArgumentException(where + ": no value for a " + raw);
            }
            return null;
        }
        if (raw == String.class) {
            return v.getText();
        } else if (raw == int.class || raw == Integer.class) {
            return Math.toIntExact(v.getInteger());
        } else if (raw == long.class || raw == Long.class) {
            return v.getInteger();
        } else if (raw == double.class || raw == Double.class) {
            return v.getReal();
        } else if (raw == boolean.class || raw == Boolean.class) {
            return v.getFlag();
        } else if (raw.isEnum()) {
            return Enum.valueOf((Class) raw, v.getText());
        } else if (raw == Path.class) {
            return Path.of(v.getText());
        } else if (raw == Duration.class) {
            return Duration.parse(v.getText());
        } else if (raw == ActorRef.class) {
            return refs.resolveActorRef(v.getText());
        } else if (Message.class.isAssignableFrom(raw)) {
            return message(v.getMessage(), raw, where);
        } else if (raw.isRecord()) {
            return read(v.getRecord(), (Class<? extends Record>) raw);
        } else if (raw == List.class) {
            Type element = ((ParameterizedType) type).getActualTypeArguments()[0];
            List<Object> items = new ArrayList<>();
            for (WireValue item : v.getList().getItemsList()) {
                items.add(value(item, element, where));
            }
            return List.copyOf(items);
        }
        throw new IllegalArgumentException(where + ": no wire form for " + type.getTypeName());
    }

    private static Object message(ByteString bytes, Class<?> type, String where) {
        try {
            Message prototype = (Message) type.getMethod("getDefaultInstance").invoke(null);
            return prototype.getParserForType().parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(where + ": " + e.getMessage(), e);
        }
    }

    private static Class<?> raw(Type type) {
        return type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : (Class<?>) type;
    }

    private static Constructor<?> constructor(Class<?> type) {
        return CONSTRUCTORS.computeIfAbsent(type, t -> {
            Class<?>[] parameters = Arrays.stream(t.getRecordComponents()).map(RecordComponent::getType)
                    .toArray(Class<?>[]::new);
            try {
                Constructor<?> canonical = t.getDeclaredConstructor(parameters);
                canonical.setAccessible(true);
                return canonical;
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException(t.getName() + " has no canonical constructor", e);
            }
        });
    }
}
