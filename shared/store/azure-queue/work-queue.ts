/** WorkQueue on an Azure Storage queue (Azurite locally): messages are operation ids. */
import type { QueueClient } from "@azure/storage-queue";
import type { WorkMessage, WorkQueue } from "../operation-store.js";

export class AzureWorkQueue implements WorkQueue {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly queue: QueueClient) {}

  async send(operationId: string): Promise<void> {
    await this.ensure();
    await this.queue.sendMessage(Buffer.from(operationId).toString("base64"));
  }

  async receive(max: number, hiddenMs: number): Promise<WorkMessage[]> {
    await this.ensure();
    const { receivedMessageItems } = await this.queue.receiveMessages({ numberOfMessages: max, visibilityTimeout: Math.ceil(hiddenMs / 1000) });
    return receivedMessageItems.map((item) => ({
      operationId: Buffer.from(item.messageText, "base64").toString("utf8"),
      messageId: item.messageId,
      popReceipt: item.popReceipt,
      dequeueCount: item.dequeueCount,
    }));
  }

  async extend(message: WorkMessage, hiddenMs: number): Promise<WorkMessage> {
    const answer = await this.queue.updateMessage(message.messageId, message.popReceipt, undefined, Math.ceil(hiddenMs / 1000));
    return { ...message, popReceipt: answer.popReceipt ?? message.popReceipt };
  }

  async delete(message: WorkMessage): Promise<void> {
    await this.queue.deleteMessage(message.messageId, message.popReceipt);
  }

  /** Infra creates the queue in Azure; locally (and on a fresh account) it is created on first use. */
  private ensure(): Promise<unknown> {
    this.ready ??= this.queue.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }
}
