import { DocumentChunk } from '../chunks/document-chunk.entity';
import { SupportDocument } from '../documents/support-document.entity';
import { Merchant } from '../merchants/merchant.entity';
import { Order } from '../orders/order.entity';
import { Ticket } from '../tickets/ticket.entity';

export const entities = [Merchant, SupportDocument, Ticket, Order, DocumentChunk];
