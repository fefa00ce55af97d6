package io.cmamba.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

import java.util.Map;

/** The project's JSON conventions: checkpoint metadata keeps NaN (read back by us), report files write it as null. */
public final class Json {
    private Json() {
    }

    /** For checkpoint metadata: NaN and infinities round-trip. */
    public static final Gson STATE = new GsonBuilder().serializeSpecialFloatingPointValues().create();

    /** For files other programs read: strict JSON, indented. */
    public static final Gson REPORT = new GsonBuilder().setPrettyPrinting().create();

    /** A number, or null when it is NaN or infinite (strict JSON has neither). */
    public static JsonElement number(double v) {
        return Double.isFinite(v) ? new JsonPrimitive(v) : JsonNull.INSTANCE;
    }

    public static JsonObject numbers(Map<String, Double> values) {
        JsonObject o = new JsonObject();
        values.forEach((k, v) -> o.add(k, v == null ? JsonNull.INSTANCE : number(v)));
        return o;
    }

    public static JsonArray numbers(float[] values) {
        JsonArray a = new JsonArray();
        for (float v : values) a.add(number(v));
        return a;
    }
}
