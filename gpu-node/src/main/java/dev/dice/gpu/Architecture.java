package dev.dice.gpu;

import java.util.Arrays;
import java.util.List;

/** The decoder families this runtime loads as released, by their Hugging Face class and model_type names. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2"),
    QWEN3("Qwen3ForCausalLM", "qwen3");

    private final String className;
    private final String modelType;

    Architecture(String className, String modelType) {
        this.className = className;
        this.modelType = modelType;
    }

    public String className() {
        return className;
    }

    public String modelType() {
        return modelType;
    }

    static Architecture ofClassName(String name) {
        return Arrays.stream(values()).filter(a -> a.className.equals(name)).findFirst().orElse(null);
    }

    static Architecture ofModelType(String type) {
        return Arrays.stream(values()).filter(a -> a.modelType.equals(type)).findFirst().orElse(null);
    }

    static List<String> classNames() {
        return Arrays.stream(values()).map(Architecture::className).toList();
    }

    static List<String> modelTypes() {
        return Arrays.stream(values()).map(Architecture::modelType).toList();
    }
}
