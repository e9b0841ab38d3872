package dev.dice.gpu.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * The tojson filter as transformers defines it for chat templates: Python's
 * {@code json.dumps(x, ensure_ascii=False, indent=indent)}, keys in insertion order, ", " and ": " as separators
 * ("," before a newline when indenting). Jinjava's own tojson writes compact JSON, which tool-calling templates
 * (Qwen3's, Llama-3.1's) would render differently.
 */
final class PythonJson implements Filter {

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return dumps(var, args.length > 0 && args[0] != null ? Integer.valueOf(args[0]) : null);
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
        return dumps(var, indent == null ? null : Integer.valueOf(indent.toString()));
    }

    static String dumps(Object value, Integer indent) {
        StringBuilder out = new StringBuilder();
        write(out, value, indent, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, Integer indent, int depth) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long
                || value instanceof Short || value instanceof Byte) {
            out.append(value);
        } else if (value instanceof Number n) {
            out.append(pythonFloat(n.doubleValue()));
        } else if (value instanceof Map<?, ?> map) {
            writeItems(out, '{', '}', map.entrySet().iterator(), map.isEmpty(), indent, depth, (o, entry) -> {
                Map.Entry<?, ?> e = (Map.Entry<?, ?>) entry;
                writeString(o, String.valueOf(e.getKey()));
                o.append(": ");
                write(o, e.getValue(), indent, depth + 1);
            });
        } else if (value instanceof Collection<?> list) {
            writeItems(out, '[', ']', list.iterator(), list.isEmpty(), indent, depth,
                    (o, item) -> write(o, item, indent, depth + 1));
        } else if (value instanceof Object[] array) {
            writeItems(out, '[', ']', java.util.Arrays.asList(array).iterator(), array.length == 0, indent, depth,
                    (o, item) -> write(o, item, indent, depth + 1));
        } else {
            writeString(out, value.toString());
        }
    }

    private interface ItemWriter {
        void write(StringBuilder out, Object item);
    }

    private static void writeItems(StringBuilder out, char open, char close, Iterator<?> items, boolean empty,
            Integer indent, int depth, ItemWriter writer) {
        out.append(open);
        if (empty) {
            out.append(close);
            return;
        }
        String inner = indent == null ? "" : "\n" + " ".repeat(indent * (depth + 1));
        out.append(inner);
        while (items.hasNext()) {
            writer.write(out, items.next());
            if (items.hasNext()) {
                out.append(indent == null ? ", " : "," + inner);
            }
        }
        out.append(indent == null ? "" : "\n" + " ".repeat(indent * depth)).append(close);
    }

    private static void writeString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Python's float repr for the common cases: integral values keep ".0", exponents read "1e+20". */
    private static String pythonFloat(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        if (d == Math.rint(d) && Math.abs(d) < 1e16) {
            return (long) d + ".0";
        }
        String s = Double.toString(d);
        int e = s.indexOf('E');
        if (e < 0) {
            return s;
        }
        String mantissa = s.substring(0, e).replaceAll("\\.0$", "");
        String exponent = s.substring(e + 1);
        return mantissa + "e" + (exponent.startsWith("-") ? "-" : "+")
                + String.format("%02d", Integer.parseInt(exponent.replace("-", "")));
    }
}
