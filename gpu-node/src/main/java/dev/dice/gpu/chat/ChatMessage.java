package dev.dice.gpu.chat;

/** One turn of a conversation as chat templates see it: {@code role} ("system", "user", "assistant"...) and text. */
public record ChatMessage(String role, String content) {

    public ChatMessage {
        if (role == null) {
            throw new IllegalArgumentException("a chat message needs a role");
        }
    }
}
