// An independent Confluent-wire-format reader, for the interop test: Apache Avro's Java
// implementation (the reference one), not finpipe's code nor its npm libraries.
// Reads one hex-encoded Kafka record value per line from stdin; each must be magic byte 0,
// a 4-byte big-endian schema id, then Avro binary. Fetches the schema by id from the
// registry given as the only argument and prints the record as JSON, one line per value.
//   java -cp '<avro and jackson jars>' ConfluentAvroDecode.java http://127.0.0.1:8081/apis/ccompat/v7

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;

public class ConfluentAvroDecode {
  public static void main(String[] args) throws Exception {
    String registry = args[0];
    HttpClient http = HttpClient.newHttpClient();
    ObjectMapper json = new ObjectMapper();
    Map<Integer, Schema> schemas = new HashMap<>();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isBlank()) continue;
      ByteBuffer value = ByteBuffer.wrap(HexFormat.of().parseHex(line.trim()));
      if (value.get() != 0) throw new IllegalArgumentException("no magic byte 0");
      int id = value.getInt();
      Schema schema = schemas.get(id);
      if (schema == null) {
        HttpRequest request = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id)).build();
        String body = http.send(request, HttpResponse.BodyHandlers.ofString()).body();
        schema = new Schema.Parser().parse(json.readTree(body).get("schema").asText());
        schemas.put(id, schema);
      }
      byte[] avro = new byte[value.remaining()];
      value.get(avro);
      GenericRecord record = new GenericDatumReader<GenericRecord>(schema).read(null, DecoderFactory.get().binaryDecoder(avro, null));
      System.out.println(record);
    }
  }
}
