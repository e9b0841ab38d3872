package dev.dice.actors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.wire.OpenRing;
import dev.dice.proto.wire.RankFailed;
import dev.dice.proto.wire.RankFinished;
import dev.dice.proto.wire.ReplayAppend;
import dev.dice.proto.wire.ReplayContents;
import dev.dice.proto.wire.ReplayGet;
import dev.dice.proto.wire.ResultAck;
import dev.dice.proto.wire.RingAddress;
import dev.dice.proto.wire.RingPlace;
import dev.dice.proto.wire.RunEnded;
import dev.dice.proto.wire.ShardGenerated;
import dev.dice.proto.wire.ShardScored;
import dev.dice.proto.wire.SftExample;
import dev.dice.proto.wire.TrainDpo;
import dev.dice.proto.wire.TrainProgress;
import dev.dice.proto.wire.TrainPublish;
import dev.dice.proto.wire.TrainRelease;
import dev.dice.proto.wire.TrainResume;
import dev.dice.proto.wire.TrainSft;
import dev.dice.proto.wire.Trained;
import dev.dice.proto.wire.TrainingSettings;
import dev.dice.proto.wire.TrainingStep;
import dev.dice.work.Training;
import java.io.NotSerializableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/** Writes every {@link Wire} message as its protobuf mirror (wire.proto); an ActorRef travels as its path. */
public final class WireSerializer extends SerializerWithStringManifest {
    private static final ObjectMapper CONFIG_JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    private final ActorRefResolver refs;

    public WireSerializer(ExtendedActorSystem system) {
        this.refs = ActorRefResolver.get(Adapter.toTyped(system));
    }

    @Override
    public int identifier() {
        return 0x44494345; // "DICE"
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getName().substring(o.getClass().getPackageName().length() + 1);
    }

    @Override
    public byte[] toBinary(Object o) {
        return toProto(o).toByteArray();
    }

    private Message toProto(Object o) {
        if (o instanceof Coordination.Generated m) {
            return ShardGenerated.newBuilder().setShard(m.generated()).setWorker(m.worker()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof Coordination.Scored m) {
            return ShardScored.newBuilder().setShard(m.scored()).setWorker(m.worker()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof Coordination.Ack m) {
            return ResultAck.newBuilder().setJob(m.job()).setScoring(m.scoring()).setShard(m.shard())
                    .setOutcome(ResultAck.Outcome.valueOf(m.outcome().name())).build();
        } else if (o instanceof Coordination.RunEnded m) {
            return RunEnded.newBuilder().setOk(m.ok()).setMessage(m.message()).build();
        } else if (o instanceof TrainerActor.TrainSft m) {
            TrainSft.Builder b = TrainSft.newBuilder().setInitDir(m.initDir() == null ? "" : m.initDir().toString())
                    .setConfigJson(configJson(m.config())).setSettings(settings(m.settings())).setOutDir(m.outDir().toString())
                    .setVersion(m.version()).setReplyTo(ref(m.replyTo()));
            m.data().forEach(e -> b.addData(SftExample.newBuilder().setPrompt(e.prompt()).setResponse(e.response())));
            return b.build();
        } else if (o instanceof TrainerActor.OpenRing m) {
            return OpenRing.newBuilder().setRingId(m.ringId()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof TrainerActor.TrainDpo m) {
            return TrainDpo.newBuilder().setInitDir(m.initDir().toString()).addAllData(m.data()).setSettings(settings(m.settings()))
                    .setVersion(m.version()).setRing(ring(m.ring())).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof TrainerActor.Resume m) {
            return TrainResume.newBuilder().setFromStep(m.fromStep()).setRing(ring(m.ring())).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof TrainerActor.Publish m) {
            return TrainPublish.newBuilder().setOutDir(m.outDir().toString()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof TrainerActor.Release) {
            return TrainRelease.getDefaultInstance();
        } else if (o instanceof TrainerActor.Progress m) {
            return TrainProgress.newBuilder().setVersion(m.version()).setStep(step(m.step())).setTotalSteps(m.totalSteps()).build();
        } else if (o instanceof TrainerActor.Trained m) {
            Trained.Builder b = Trained.newBuilder().setDir(m.dir().toString()).setVersion(m.version())
                    .setWeights(weights(m.weights()));
            m.log().forEach(s -> b.addLog(step(s)));
            return b.build();
        } else if (o instanceof TrainerActor.RingAddress m) {
            return RingAddress.newBuilder().setRingId(m.ringId()).setAddress(m.address()).setFrom(ref(m.from())).build();
        } else if (o instanceof TrainerActor.RankFinished m) {
            return RankFinished.newBuilder().setRingId(m.ringId()).setRank(m.rank()).setWeightsSha256(m.weightsSha256())
                    .setFrom(ref(m.from())).build();
        } else if (o instanceof TrainerActor.RankFailed m) {
            return RankFailed.newBuilder().setRingId(m.ringId()).setRank(m.rank()).setSyncStep(m.syncStep())
                    .setReason(m.reason()).setFatal(m.fatal()).setFrom(ref(m.from())).build();
        } else if (o instanceof ReplayBuffer.Append m) {
            return ReplayAppend.newBuilder().setBatch(m.batch()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof ReplayBuffer.Get m) {
            return ReplayGet.newBuilder().setRound(m.round()).setReplyTo(ref(m.replyTo())).build();
        } else if (o instanceof ReplayBuffer.Contents m) {
            return ReplayContents.newBuilder().setRound(m.round()).addAllPairs(m.pairs()).setTotalPairs(m.totalPairs()).build();
        }
        throw new IllegalArgumentException("no wire format for " + o.getClass().getName());
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        try {
            return switch (manifest) {
                case "Coordination$Generated" -> {
                    ShardGenerated m = ShardGenerated.parseFrom(bytes);
                    yield new Coordination.Generated(m.getShard(), m.getWorker(), resolve(m.getReplyTo()));
                }
                case "Coordination$Scored" -> {
                    ShardScored m = ShardScored.parseFrom(bytes);
                    yield new Coordination.Scored(m.getShard(), m.getWorker(), resolve(m.getReplyTo()));
                }
                case "Coordination$Ack" -> {
                    ResultAck m = ResultAck.parseFrom(bytes);
                    if (m.getOutcome() == ResultAck.Outcome.OUTCOME_UNSPECIFIED || m.getOutcome() == ResultAck.Outcome.UNRECOGNIZED) {
                        throw new NotSerializableException("ResultAck: outcome " + m.getOutcome());
                    }
                    yield new Coordination.Ack(m.getJob(), m.getScoring(), m.getShard(),
                            Coordination.Outcome.valueOf(m.getOutcome().name()));
                }
                case "Coordination$RunEnded" -> {
                    RunEnded m = RunEnded.parseFrom(bytes);
                    yield new Coordination.RunEnded(m.getOk(), m.getMessage());
                }
                case "TrainerActor$TrainSft" -> {
                    TrainSft m = TrainSft.parseFrom(bytes);
                    yield new TrainerActor.TrainSft(m.getInitDir().isEmpty() ? null : Path.of(m.getInitDir()),
                            config(m.getConfigJson()), m.getDataList().stream()
                                    .map(e -> new Training.Example(e.getPrompt(), e.getResponse())).toList(),
                            settings(m.getSettings()), Path.of(m.getOutDir()), m.getVersion(), resolve(m.getReplyTo()));
                }
                case "TrainerActor$OpenRing" -> {
                    OpenRing m = OpenRing.parseFrom(bytes);
                    yield new TrainerActor.OpenRing(m.getRingId(), resolve(m.getReplyTo()));
                }
                case "TrainerActor$TrainDpo" -> {
                    TrainDpo m = TrainDpo.parseFrom(bytes);
                    yield new TrainerActor.TrainDpo(Path.of(m.getInitDir()), List.copyOf(m.getDataList()),
                            settings(m.getSettings()), m.getVersion(), ring(m.getRing()), resolve(m.getReplyTo()));
                }
                case "TrainerActor$Resume" -> {
                    TrainResume m = TrainResume.parseFrom(bytes);
                    yield new TrainerActor.Resume(m.getFromStep(), ring(m.getRing()), resolve(m.getReplyTo()));
                }
                case "TrainerActor$Publish" -> {
                    TrainPublish m = TrainPublish.parseFrom(bytes);
                    yield new TrainerActor.Publish(Path.of(m.getOutDir()), resolve(m.getReplyTo()));
                }
                case "TrainerActor$Release" -> {
                    TrainRelease.parseFrom(bytes);
                    yield new TrainerActor.Release();
                }
                case "TrainerActor$Progress" -> {
                    TrainProgress m = TrainProgress.parseFrom(bytes);
                    yield new TrainerActor.Progress(m.getVersion(), step(m.getStep()), m.getTotalSteps());
                }
                case "TrainerActor$Trained" -> {
                    Trained m = Trained.parseFrom(bytes);
                    yield new TrainerActor.Trained(Path.of(m.getDir()), m.getVersion(),
                            m.getLogList().stream().map(WireSerializer::step).toList(), weights(m.getWeights()));
                }
                case "TrainerActor$RingAddress" -> {
                    RingAddress m = RingAddress.parseFrom(bytes);
                    yield new TrainerActor.RingAddress(m.getRingId(), m.getAddress(), resolve(m.getFrom()));
                }
                case "TrainerActor$RankFinished" -> {
                    RankFinished m = RankFinished.parseFrom(bytes);
                    yield new TrainerActor.RankFinished(m.getRingId(), m.getRank(), m.getWeightsSha256(), resolve(m.getFrom()));
                }
                case "TrainerActor$RankFailed" -> {
                    RankFailed m = RankFailed.parseFrom(bytes);
                    yield new TrainerActor.RankFailed(m.getRingId(), m.getRank(), m.getSyncStep(), m.getReason(), m.getFatal(),
                            resolve(m.getFrom()));
                }
                case "ReplayBuffer$Append" -> {
                    ReplayAppend m = ReplayAppend.parseFrom(bytes);
                    yield new ReplayBuffer.Append(m.getBatch(), resolve(m.getReplyTo()));
                }
                case "ReplayBuffer$Get" -> {
                    ReplayGet m = ReplayGet.parseFrom(bytes);
                    yield new ReplayBuffer.Get(m.getRound(), resolve(m.getReplyTo()));
                }
                case "ReplayBuffer$Contents" -> {
                    ReplayContents m = ReplayContents.parseFrom(bytes);
                    yield new ReplayBuffer.Contents(m.getRound(), List.copyOf(m.getPairsList()), m.getTotalPairs());
                }
                default -> throw new NotSerializableException("unknown wire manifest '" + manifest + "'");
            };
        } catch (InvalidProtocolBufferException e) {
            throw new NotSerializableException(manifest + ": " + e.getMessage());
        }
    }

    private String ref(ActorRef<?> ref) {
        return refs.toSerializationFormat(ref);
    }

    private <T> ActorRef<T> resolve(String path) {
        return refs.resolveActorRef(path);
    }

    private static RingPlace ring(TrainerActor.Ring r) {
        return RingPlace.newBuilder().setId(r.id()).addAllMembers(r.members()).setRank(r.rank())
                .setTimeoutMs(r.timeout().toMillis()).setCheckEvery(r.checkEvery()).setFp16Gradients(r.fp16Gradients()).build();
    }

    private static TrainerActor.Ring ring(RingPlace r) {
        return new TrainerActor.Ring(r.getId(), List.copyOf(r.getMembersList()), r.getRank(),
                Duration.ofMillis(r.getTimeoutMs()), r.getCheckEvery(), r.getFp16Gradients());
    }

    private static dev.dice.proto.PublishedWeights weights(PublishedWeights w) {
        return w.toProto();
    }

    private static PublishedWeights weights(dev.dice.proto.PublishedWeights w) {
        return PublishedWeights.of(w);
    }

    private static TrainingSettings settings(Training.Settings s) {
        return TrainingSettings.newBuilder().setSteps(s.steps()).setBatch(s.batch()).setLr(s.lr()).setWarmup(s.warmup())
                .setMaxGradNorm(s.maxGradNorm()).setBeta(s.beta()).setSeed(s.seed()).build();
    }

    private static Training.Settings settings(TrainingSettings s) {
        return new Training.Settings(s.getSteps(), s.getBatch(), s.getLr(), s.getWarmup(), s.getMaxGradNorm(), s.getBeta(),
                s.getSeed());
    }

    private static TrainingStep step(Training.Step s) {
        return TrainingStep.newBuilder().setStep(s.step()).setLoss(s.loss()).setRewardAccuracy(s.rewardAccuracy())
                .setMargin(s.margin()).setChosenReward(s.chosenReward()).setRejectedReward(s.rejectedReward())
                .setLearningRate(s.learningRate()).build();
    }

    private static Training.Step step(TrainingStep s) {
        return new Training.Step(s.getStep(), s.getLoss(), s.getRewardAccuracy(), s.getMargin(), s.getChosenReward(),
                s.getRejectedReward(), s.getLearningRate());
    }

    static String configJson(LlamaConfig config) {
        try {
            return config == null ? "" : CONFIG_JSON.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static LlamaConfig config(String json) {
        try {
            return json.isEmpty() ? null : CONFIG_JSON.readValue(json, LlamaConfig.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("TrainSft.config_json: " + e.getOriginalMessage(), e);
        }
    }
}
