using System.Text;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Tests;

/// <summary>How the tool classifies server messages: FastWs's <c>connected</c> greeting is neither data nor an error.</summary>
public sealed class ProtocolTextTests
{
    [Theory]
    [InlineData("""{"type":"connected","connectionId":"17-3","protocol":"fastws.v1"}""", nameof(ServerMessageKind.Connected))]
    [InlineData("""{"type": "connected","connectionId":"1-0","user":"0xabc"}""", nameof(ServerMessageKind.Connected))]
    [InlineData("""{"type":"message","channel":"bench:0","seq":1,"data":{"t":1}}""", nameof(ServerMessageKind.Data))]
    [InlineData("""{"type":"subscribed","channels":["bench:0"]}""", nameof(ServerMessageKind.Subscribed))]
    [InlineData("""{"type":"authenticated","user":"0xabc"}""", nameof(ServerMessageKind.Authenticated))]
    [InlineData("""{"type":"error","code":"bad_request","message":"x"}""", nameof(ServerMessageKind.Error))]
    [InlineData("""{"type":"pong"}""", nameof(ServerMessageKind.Other))]
    public void Classifies_server_messages(string json, string expected) =>
        Assert.Equal(expected, ProtocolText.Classify(Encoding.UTF8.GetBytes(json)).ToString());
}
