package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Training;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every protocol message that may cross nodes goes through the protobuf wire format and comes back equal: the
 * messages below, with their edge cases, and an instance of every Wire record found in the actors' classes.
 */
class WireSerializerTest {
    static ActorTestKit kit;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("wire", Nodes.config(ConfigFactory.parseString(
                "pekko.persistence.journal.plugin = \"\"\npekko.persistence.snapshot-store.plugin = \"\"\n"
                + "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s")));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    private static void roundTrips(Object message) {
        Serialization serialization = SerializationExtension.get(Adapter.toClassic(kit.system()));
        Serializer serializer = serialization.findSerializerFor(message);
        assertInstanceOf(WireSerializer.class, serializer, message.getClass().getName());
        byte[] bytes = serializer.toBinary(message);
        Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message))
                .get();
        assertEquals(message, back);
    }

    @Test
    void everyWireMessageRoundTrips() {
        ActorRef<Object> ref = kit.createTestProbe().getRef();
        PromptShard shard = PromptShard.newBuilder().setJob("round1").setShard(3).setPolicyVersion(2).setSamplesPerPrompt(8)
                .setSeed(42).addPrompts(Prompt.newBuilder().setId("p1").setText("upper: red cat")).build();
        Response response = Response.newBuilder().setPromptId("p1").setSample(1).setText("RED CAT").setTokens(7)
                .setEndedOnEos(true).setValid(true).build();
        GeneratedShard generated = GeneratedShard.newBuilder().setJob("round1").setShard(3).setPolicyVersion(2)
                .addPrompts(shard.getPrompts(0)).addResponses(response).setWeightsSha256("ab12").build();
        ScoredShard scored = ScoredShard.newBuilder().setJob("round1").addResponses(ScoredResponse.newBuilder()
                .setResponse(response).setLogpPolicy(-3.5).setLogpRef(-4.25)).build();
        PreferencePair pair = PreferencePair.newBuilder().setPromptId("p1").setPrompt("upper: red cat").setChosen("RED CAT")
                .setRejected("red cat").setRefLogpChosen(-3.5).setRefLogpRejected(-6).setSource("generated").build();
        Training.Settings settings = new Training.Settings(50, 32, 5e-6, 10, 1.0, 0.1, 7);
        Training.Step step = new Training.Step(3, 0.61, Double.NaN, 0.2, 0.1, -0.1, 5e-6);
        LlamaConfig config = new LlamaConfig(259, 128, 384, 3, 4, 4, 96, 1e-5, 10000.0, true, 256, 257);
        Path dir = Path.of("/runs/a/round1/model");
        PublishedWeights weights = new PublishedWeights("127.0.0.1:4711", 2, "ab12", config);
        LlamaConfig llama31 = new LlamaConfig(128256, 64, 128, 2, 4, 2, 131072, 1e-5, 500000.0, false, 128000, 128001,
                new dev.dice.gpu.Variant(dev.dice.gpu.Architecture.LLAMA, 32, new dev.dice.gpu.RopeScaling("llama3", 8,
                        1, 4, 8192), true, false, 0, List.of(128001, 128008, 128009)));
        PublishedWeights release = new PublishedWeights("127.0.0.1:4711", 3, "cd34", llama31);
        TrainerActor.Ring ring = new TrainerActor.Ring("round1-ring2", List.of("127.0.0.1:5001", "127.0.0.1:5002"), 1,
                java.time.Duration.ofSeconds(60), 10, true, true);
        List<Object> messages = List.of(
                new Coordination.Generated(generated, "127.0.0.1:2552/generator-0", ref.unsafeUpcast()),
                new Coordination.Scored(scored, "127.0.0.1:2552/scorer-0", ref.unsafeUpcast()),
                new Coordination.Ack("round1", true, 3, Coordination.Outcome.LATER),
                new Coordination.Ack("round1", false, 0, Coordination.Outcome.STORED),
                new Coordination.RunEnded(false, "the run failed on 127.0.0.1:2551: ..."),
                new TrainerActor.TrainSft(null, config, List.of(new Training.Example("add: 1+2", "3")), settings, 0, ring,
                        ref.unsafeUpcast()),
                new TrainerActor.TrainSft(dir, null, List.of(), settings, 0, ring, ref.unsafeUpcast()),
                new TrainerActor.OpenRing("round1-ring2", ref.unsafeUpcast()),
                new TrainerActor.TrainDpo(new ModelSource(2, Path.of("dpo/model"), weights, release), List.of(pair),
                        settings, 3, ring, ref.unsafeUpcast()),
                new TrainerActor.TrainDpo(ModelSource.onDisk(0, dir), List.of(pair), settings, 1, ring, ref.unsafeUpcast()),
                new Coordination.AskCurrentModels(ref.unsafeUpcast()),
                new Coordination.CurrentModels(new ModelSource(2, Path.of("dpo/model"), weights, release), null,
                        ModelSource.onDisk(1, dir)),
                Coordination.CurrentModels.NONE,
                new TrainerActor.Resume(20, ring, ref.unsafeUpcast()),
                new TrainerActor.Publish(dir, true, ref.unsafeUpcast()),
                new TrainerActor.Release(),
                new TrainerActor.Progress(3, step, 50),
                new TrainerActor.Trained(dir, 3, List.of(step, step), weights),
                new TrainerActor.Trained(dir, 3, List.of(step), release),
                new TrainerActor.RingAddress("round1-ring2", "127.0.0.1:5002", ref.unsafeUpcast()),
                new TrainerActor.RankFinished("round1-ring2", 1, "ab12", ref.unsafeUpcast()),
                new TrainerActor.RankFailed("round1-ring2", 1, 20, "left neighbour rank 0 left the ring", false,
                        ref.unsafeUpcast()),
                new ReplayBuffer.Append(PairBatch.newBuilder().setRound("round1").addPairs(pair).build(), ref.unsafeUpcast()),
                new ReplayBuffer.Get("round1", ref.unsafeUpcast()),
                new ReplayBuffer.Contents("round1", List.of(pair), 10));
        messages.forEach(WireSerializerTest::roundTrips);
    }

    @Test
    void everyWireRecordOnTheClassPathRoundTrips() throws Exception {
        ActorRef<Object> ref = kit.createTestProbe().getRef();
        List<Class<?>> types = wireRecords();
        assertTrue(types.contains(TrainerActor.TrainDpo.class) && types.contains(Coordination.Ack.class), types.toString());
        for (Class<?> type : types) {
            roundTrips(sample(type, type, ref));
        }
    }

    /** The records implementing Wire among the compiled classes of Wire's own package. */
    private static List<Class<?>> wireRecords() throws Exception {
        Path classes = Path.of(Wire.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path dir = classes.resolve(Wire.class.getPackageName().replace('.', '/'));
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
                String name = file.getFileName().toString();
                Class<?> type = Class.forName(Wire.class.getPackageName() + "." + name.substring(0, name.length() - 6));
                if (type.isRecord() && Wire.class.isAssignableFrom(type)) {
                    out.add(type);
                }
            }
        }
        return out;
    }

    /** A value of {@code type} with every component set: scalars, messages with their scalar fields, lists of two. */
    private static Object sample(Type type, Class<?> owner, ActorRef<Object> ref) throws Exception {
        Class<?> raw = type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : (Class<?>) type;
        if (raw == String.class) {
            return owner.getSimpleName() + "-text";
        } else if (raw == int.class || raw == Integer.class) {
            return 7;
        } else if (raw == long.class || raw == Long.class) {
            return 11L;
        } else if (raw == double.class || raw == Double.class) {
            return 0.25;
        } else if (raw == boolean.class || raw == Boolean.class) {
            return true;
        } else if (raw.isEnum()) {
            Object[] constants = raw.getEnumConstants();
            return constants[constants.length - 1];
        } else if (raw == Path.class) {
            return Path.of("/runs/a/round1/model");
        } else if (raw == java.time.Duration.class) {
            return java.time.Duration.ofSeconds(90);
        } else if (raw == ActorRef.class) {
            return ref;
        } else if (raw == LlamaConfig.class) {
            return new LlamaConfig(259, 128, 384, 3, 4, 4, 96, 1e-5, 10000.0, true, 256, 257);
        } else if (Message.class.isAssignableFrom(raw)) {
            Message.Builder b = (Message.Builder) raw.getMethod("newBuilder").invoke(null);
            for (Descriptors.FieldDescriptor f : b.getDescriptorForType().getFields()) {
                Object value = switch (f.getJavaType()) {
                    case STRING -> f.getName();
                    case INT -> 3;
                    case LONG -> 5L;
                    case DOUBLE -> -1.5;
                    case BOOLEAN -> true;
                    default -> null;
                };
                if (value != null) {
                    b.setField(f, f.isRepeated() ? List.of(value) : value);
                }
            }
            return b.build();
        } else if (raw == List.class) {
            Type element = ((ParameterizedType) type).getActualTypeArguments()[0];
            return List.of(sample(element, owner, ref), sample(element, owner, ref));
        } else if (raw.isRecord()) {
            RecordComponent[] components = raw.getRecordComponents();
            Object[] values = new Object[components.length];
            for (int i = 0; i < components.length; i++) {
                values[i] = sample(components[i].getGenericType(), raw, ref);
            }
            return raw.getDeclaredConstructor(Arrays.stream(components).map(RecordComponent::getType)
                    .toArray(Class<?>[]::new)).newInstance(values);
        }
        throw new IllegalArgumentException("no sample of " + type.getTypeName() + " (in " + owner.getName() + ")");
    }
}
